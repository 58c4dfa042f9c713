"""What users see of a run.

* `table.py`   — `mlip-runner status`: one row per iteration, from the derived state
* `build.py`   — `mlip-runner report` and the `report` rule: figures (`plots.py`) from the data on
                 disk (`data.py`) in one self-contained HTML file (`html.py`)
* progress reporting of long loops lives in `core/progress.py` (dynamics and label jobs use it too)
"""
