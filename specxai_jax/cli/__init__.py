"""Command lines: one module per command (flags → a config → the library's ``run``), the console scripts
(:mod:`.entry`), flag checks and one-line errors (:mod:`.validation`), process settings (:mod:`.runtime`)
and the huge-page start-up (:mod:`.launch`). Only commands import this package."""
