"""Named benchmarks of the R1V4 table: readers for the formats they ship in, recipes
(prompt style, scorer, figures), the published numbers.

One module per benchmark family, each a reader over `r1v4.evals.tables` writing through
`r1v4.evals.importer.CaseWriter`: ``vlmevalkit`` (VLMEvalKit TSVs: HR-Bench, MME-RealWorld
Lite, V*, TreeBench), ``mme_realworld`` (its JSON files), ``vstar`` (the original folders),
``visualprobe`` (``val.json`` + images), ``mmsearch`` (end2end Parquet), ``fvqa`` (verl
Parquet), ``browsecomp_vl`` (WebWatcher JSONL). ``common`` holds what readers share,
``registry`` the recipes and the layout detection, ``figures`` the published aggregation
rules, ``published`` R1V4's published numbers. Import the modules by path.
"""
