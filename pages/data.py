"""Data: the workspace's tables, SQL with a preview, saving datasets, and column profiles.

File names, column names and engine messages come from the data and are shown as plain text: in
tables, or escaped (:func:`workbench.render.safe.md_text`), never as markdown or HTML."""
import polars as pl
import streamlit as st

from ui import column_profile, link, param, set_params, setup, table_height
import workbench as wb
from workbench import WorkbenchError
from workbench.render.safe import md_text as plain


ws = setup("Data")
cat = wb.scan(ws)
all_datasets = wb.list_datasets(ws)
names = [d.name for d in all_datasets]

# The right column (where Save happens) is filled first, and the lists on the left after it, so
# that a dataset saved in this run is already listed.
left, right = st.columns([1, 2], gap="large")
with right:
    st.subheader("Build a dataset with SQL")
    chosen = param("dataset", None, names)
    if "sql" not in st.session_state:
        if chosen:
            st.session_state.sql = wb.load_version(ws, chosen).sql
        elif wb.demo.DATASET in names or not cat.tables:
            st.session_state.sql = wb.demo.SQL
        else:
            st.session_state.sql = f'SELECT * FROM "{cat.tables[0].name}"'
    if "dataset_name" not in st.session_state:
        st.session_state.dataset_name = chosen or (wb.demo.DATASET if wb.demo.DATASET in names else "my_dataset")
    sql = st.text_area("SQL over the tables and datasets (by name)", key="sql", height=300)
    name = st.text_input("Dataset name", key="dataset_name",
                         help="Letters, digits and underscores. Saving again adds a version.")
    b1, b2, _ = st.columns([1, 1, 3])
    do_preview = b1.button("Preview", type="secondary", width="stretch")
    do_save = b2.button("Save dataset", type="primary", width="stretch")
    if do_preview:
        try:
            with st.spinner("Running the query…"):
                pv = wb.preview(ws, sql)
            st.caption(f"{pv.row_count:,} rows; first {pv.rows.height} shown. Nothing was written.")
            st.dataframe(pv.rows, hide_index=True, height=300)
        except WorkbenchError as e:
            st.error(plain(e))
    if do_save:
        try:
            with st.spinner("Building the dataset with DuckDB…"):
                v = wb.build(ws, name, sql)
            if v.unchanged:
                st.info(f"**{plain(v.name)}** v{v.version} already holds exactly this result (hash `{v.hash}`); "
                        "no new version was written.")
            else:
                st.success(f"Saved **{plain(v.name)}** v{v.version}: {v.rows:,} rows in {v.seconds:.1f} s, hash `{v.hash}`.")
            set_params(dataset=v.name)
            link("train", f"Train a model on {plain(v.name)} →", dataset=v.name)
            all_datasets = wb.list_datasets(ws)
            names = [d.name for d in all_datasets]
        except WorkbenchError as e:
            st.error(plain(e))

with left:
    st.subheader("Source tables")
    st.caption("Parquet files and folders in the workspace; schemas and row counts from parquet metadata.")
    if cat.problems:  # one bad file degrades, never blocks: the other tables are listed and work
        st.warning(f"{len(cat.problems)} source(s) cannot be read and are left out; the other tables work. "
                   "Fix or remove these files:")
        st.dataframe(pl.DataFrame({"file": [p.location for p in cat.problems],
                                   "problem": [p.message for p in cat.problems]}), hide_index=True)
    for t in cat.tables:
        with st.expander(f"**{plain(t.name)}** · {t.rows:,} rows · {len(t.columns)} columns"):
            st.caption(plain(t.location))
            st.dataframe(pl.DataFrame({"column": [c.name for c in t.columns], "type": [c.type for c in t.columns]}),
                         hide_index=True)
    st.subheader("Datasets")
    if not all_datasets:
        st.info("No datasets yet: write SQL on the right and save it.")
    for d in all_datasets:
        v = d.versions[-1]
        with st.expander(f"**{plain(d.name)}** · v{v.version} · {v.rows:,} rows"):
            st.caption(f"hash `{v.hash}` · built {v.created} · {len(d.versions)} version(s)")
            st.code(v.sql, language="sql")


st.divider()
st.subheader("Column profile")
relations = [t.name for t in cat.tables] + names
if relations:
    default = param("profile", chosen or (names[0] if names else relations[0]), relations)
    target = st.selectbox("Table or dataset", relations, index=relations.index(default))
    set_params(profile=target)
    try:
        stamps = {t.name: str(t.fingerprint) for t in cat.tables} | {d.name: d.versions[-1].hash for d in all_datasets}
        prof = column_profile(str(ws.root), target, stamps[target])
        shown = prof.columns.with_columns(
            pl.col("top_values").list.eval(
                pl.element().struct.field("value").fill_null("null") + " (" +
                pl.element().struct.field("count").cast(pl.String) + ")").list.join(", "))
        st.caption(f"{prof.rows:,} rows; computed in DuckDB.")
        order = ["name", "type", "null_share", "distinct", "distinct_exact", "top_values", "mean", "min", "max"]
        st.dataframe(shown, hide_index=True, height=table_height(shown.height, most=38 + 35 * 30),
                     column_order=order, column_config={
            **{c: st.column_config.TextColumn(c, width=135) for c in ("min", "max")},  # a timestamp fits
            "null_share": st.column_config.ProgressColumn("null share", format="percent", min_value=0, max_value=1,
                                                          width=100),
            "distinct": st.column_config.NumberColumn("distinct", format="localized",
                                                      help="Non-null distinct values."),
            "distinct_exact": st.column_config.CheckboxColumn(
                "exact", help=f"Counted exactly up to {wb.EXACT_DISTINCT_UP_TO:,} distinct values; "
                              "beyond that, a HyperLogLog estimate (within a few percent)."),
            "mean": st.column_config.NumberColumn("mean", format="%.4g", width=80),
            "top_values": st.column_config.TextColumn("top values (count)", width=220)})
    except WorkbenchError as e:
        st.error(plain(e))
