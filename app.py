"""The workbench in the browser: ``streamlit run app.py``.

Navigation only; each page under ``pages/`` sets itself up, so it also runs when opened
directly by its URL.
"""
import streamlit as st

pages = [
    st.Page("pages/data.py", title="Data", icon="🗂️", url_path="data", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/analysis.py", title="Error analysis", icon="🔍", url_path="analysis"),
]
st.navigation(pages).run()
