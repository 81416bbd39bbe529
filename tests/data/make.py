"""Writes the golden files in this folder. Values are small enough to check by hand:
loans: income has 2 nulls of 12, mean of the other 10 is 63; events: 3 rows in 2023, 2 in 2024."""
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

here = Path(__file__).parent
loans = pa.table({
    "id": list(range(1, 13)),
    "region": ["north", "north", "south", "south", "east", "east", "north", "south", "east", "north", "south", "east"],
    "income": [10.0, 20.0, 30.0, None, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, None, 120.0],
    "approved": [True, False, True, True, False, False, True, False, True, True, False, True],
})
pq.write_table(loans, here / "loans.parquet")
for year, ids in ((2023, [1, 2, 3]), (2024, [4, 5])):
    folder = here / "events" / f"year={year}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids, "kind": ["click"] * len(ids)}), folder / "part-0.parquet")
