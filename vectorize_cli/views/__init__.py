"""Views: functions of a Trace. matrix.py (a matrix as a rich table), table.py (every table of a
trace), json.py (the JSON records)."""
