"""One workbench served to a review: a runaway query in one session leaves the others working.

Each session's script runs in its own thread and DuckDB releases the interpreter while it works,
so a colleague opening a page waits for nothing; the runaway query itself ends at the time limit
with a message, not a hung page."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness import READY, Server, expect, settle

LIMIT = 45  # seconds a query may run here: far longer than a page takes to open on a busy machine
RUNAWAY = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"


def test_a_runaway_query_in_one_session_leaves_another_session_working(browser, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    pq.write_table(pa.table({"x": rng.normal(size=500), "g": [f"g{i % 4}" for i in range(500)]}),
                   tmp_path / "readings.parquet")
    monkeypatch.setenv("WORKBENCH_QUERY_SECONDS", str(LIMIT))
    server = Server(tmp_path)
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        runaway, colleague = (c.new_page() for c in contexts)
        runaway.goto(f"{server.url}/data")
        settle(runaway)
        runaway.locator("textarea").first.fill(RUNAWAY)
        runaway.get_by_role("button", name="Preview").click()
        expect(runaway.locator("[data-testid='stApp'][data-test-script-state='running']")).to_have_count(1)

        colleague.goto(f"{server.url}/data")
        settle(colleague)
        expect(colleague.get_by_text("readings", exact=False).first).to_be_visible()
        # the colleague's page is ready while the runaway query still runs
        assert runaway.locator("[data-testid='stApp'][data-test-script-state='running']").count() == 1
        assert colleague.locator(READY).count() == 1

        stopped = runaway.get_by_text(f"The query was stopped after {LIMIT} s", exact=False)
        stopped.wait_for(timeout=(LIMIT + 60) * 1000)
        settle(runaway)
    finally:
        for c in contexts:
            c.close()
        server.stop()
