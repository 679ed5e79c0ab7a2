"""One module per table: its declaration (`TABLE`: name, key, column types, row builder), its GraphQL documents, its
walk (`WALKER`), its switches and options (`OPTIONS`) and its cost note (`COST`). `registry.py` lists them; the
sync, the sweep, the settings, the form and `schema()` read that list and name no table.
"""
