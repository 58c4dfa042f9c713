"""What users see of a run: the status table (and, later, the HTML report)."""
