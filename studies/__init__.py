"""Studies beside the tables: each measures one question with the harness's own experiments and
writes its own records and Markdown under ``results/<profile>/``."""
