"""Views: functions of a Trace. matrix.py (a matrix as a rich table), table.py (every table of a
trace), json.py (the JSON records), attention_tables.py (--rollout and --token), pictures.py (PICTURES:
html.py's page, figure.py's SVG, PNG and PDF)."""
