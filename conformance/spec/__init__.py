"""The specification: the op table, the requirement catalogue, tolerances, profiles and the
backend-neutral program IR. Imports NumPy and the standard library only."""
