"""A search's found slices on the Error analysis page: the table of the figures a reviewer acts
on, with the search half's apart, and the top score's permutation p-value, filled in after the
table is on screen. Kept out of ``pages/`` so that Streamlit does not list it as a page."""
import polars as pl
import streamlit as st

from ui import discovered, table_height
import workbench as wb
from workbench import WorkbenchError
from workbench.render.safe import md_text

SEARCH_FIGURES = ("size", "error", "ci_low", "ci_high", "p", "q")  # a found slice's search_* columns


def shuffle_note(slot, ws: wb.Workspace, run: wb.Run, settings: tuple) -> None:
    """The top score's permutation p-value in ``slot`` (above the table), computed after the table
    is on screen; a warning where shuffled errors scored as high (not where few shuffles cannot
    give a small p)."""
    perm = settings[7]
    if not perm:
        slot.caption("No shuffles: nothing here says whether the top score is more than the search finds in noise.")
        return
    try:
        with slot.container(), st.spinner(f"Testing the top score against {perm} searches of shuffled errors…"):
            tested = discovered(str(ws.root), run.run_id, settings)
    except WorkbenchError as e:
        slot.error(md_text(e))
        return
    note = wb.text.sentence(wb.text.search_note(tested))
    if wb.text.shuffles_scored_as_high(tested):
        slot.warning(note, icon=":material/casino:")
    else:
        slot.caption(note)


def found_table(found: wb.Discovery, key: str):
    """The found slices with the figures a reviewer acts on, said to be from the rows they are from,
    and the search half's figures apart, named as optimistic; returns the table's selection."""
    confirm = bool(found.params.get("confirm"))
    grouped = bool(found.params.get("group"))
    rows = "unseen half" if confirm else "searched rows"
    cols = (["predicate", "size", "error", "ci_low", "ci_high", "lift", "q_value"] + (["confirmed"] if confirm else [])
            + (["also"] if grouped else []))
    shown = found.slices.with_columns(also=pl.col("also").list.join("; ")).select(cols)
    st.caption(wb.text.sentence(wb.text.figures_note(found)))
    picked = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="single-row", key=key,
                          height=table_height(shown.height), column_config={
                              "predicate": st.column_config.TextColumn("slice", width="large"),
                              "size": st.column_config.NumberColumn(f"rows ({rows})", format="localized"),
                              "error": st.column_config.NumberColumn(f"error ({rows})", format="%.4g"),
                              "ci_low": st.column_config.NumberColumn("95% CI low", format="%.4g"),
                              "ci_high": st.column_config.NumberColumn("95% CI high", format="%.4g"),
                              "lift": st.column_config.NumberColumn(f"lift ({rows})", format="%.4g"),
                              "q_value": st.column_config.NumberColumn(
                                  "q (BH, slices shown)" if confirm else "q (BH, all candidates)", format="%.2e"),
                              "confirmed": st.column_config.CheckboxColumn("confirmed (q < 0.05)"),
                              "also": st.column_config.TextColumn("also (overlapping slices grouped here)",
                                                                  width="medium")})
    also = (f" · also: lower-ranked slices sharing {found.params['overlap']:.0%} or more of their rows with this "
            "one (Jaccard), grouped under it" if grouped else "")
    st.caption(f"error: mean per-row {found.error} with 95% CI · lift: error over the rest of those rows · q: "
               f"one-sided test that the slice errs more than the rest{also}. Select a row for its rows.")
    if confirm:
        with st.expander("Search half's figures (optimistic)"):
            st.caption("The same slices on the half of the holdout the search chose them on. The search picks "
                       "slices that err there, so these figures flatter them. q: Benjamini-Hochberg over all "
                       f"{found.candidates_evaluated:,} candidates the search evaluated.")
            st.dataframe(found.slices.select("predicate", *(f"search_{c}" for c in SEARCH_FIGURES)), hide_index=True,
                         height=table_height(found.slices.height), column_config={
                             "predicate": st.column_config.TextColumn("slice", width="large"),
                             "search_size": st.column_config.NumberColumn("rows (search half)", format="localized"),
                             "search_error": st.column_config.NumberColumn("error (search half)", format="%.4g"),
                             "search_ci_low": st.column_config.NumberColumn("95% CI low", format="%.4g"),
                             "search_ci_high": st.column_config.NumberColumn("95% CI high", format="%.4g"),
                             "search_p": st.column_config.NumberColumn("p", format="%.2e"),
                             "search_q": st.column_config.NumberColumn("q (BH, all candidates)", format="%.2e")})
    return picked
