"""Judging: numerical ground truth, comparisons and the evidence a failed check leaves behind."""
