"""The workbench in the browser: ``streamlit run app.py``.

Routing only. Each page under ``pages/`` sets itself up and draws the navigation
(``ui.setup``), so it also runs when Streamlit opens it by its URL without this file.
"""
import streamlit as st

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/table_view:", url_path="data", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/analysis.py", title="Error analysis", icon=":material/troubleshoot:", url_path="analysis"),
    st.Page("pages/explain.py", title="Explain", icon=":material/lightbulb:", url_path="explain"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
]
st.navigation(pages, position="hidden").run()
