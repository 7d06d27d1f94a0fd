"""Analysis: tables, paired statistics, transfer tests, figures and findings from predictions."""
