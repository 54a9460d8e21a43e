// Log-log plots as SVG (placeholder).
