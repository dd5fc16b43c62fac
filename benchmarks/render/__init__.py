"""Everything a reader sees, rendered from the stored cells and records: the tables (CSV,
Markdown, LaTeX, plots; :mod:`.tables`), the sample grids (:mod:`.grids`), the results page of a
folder (:mod:`.index`) and the figures README.md and docs/ quote (:mod:`.quotes`)."""
