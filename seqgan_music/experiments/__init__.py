"""One-command reproductions of the papers' tables: runs, evaluation and a report."""
