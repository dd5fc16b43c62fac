"""The reproduction harness: tables as grids of cells, stored one file per finished cell."""

from symmflow.threads import yield_while_waiting

yield_while_waiting()  # before torch is imported: threads that do not spin against other work
