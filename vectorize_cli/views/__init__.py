"""Views of a trace beyond the terminal: a self-contained HTML page (html.py) and a static figure
(figure.py: SVG, PNG, PDF)."""
