"""Studies beside the tables: each measures one question with the harness's own experiments and
writes its own records and Markdown under ``results/<profile>/``."""

from symmflow.threads import yield_while_waiting

yield_while_waiting()  # before torch is imported: threads that do not spin against other work
