-- A drop folder may set its own job mode (`[ingest.folders]`): the series remembers the
-- mode of the folder its first instance came from; NULL follows the user's mode.

ALTER TABLE series ADD COLUMN mode TEXT;
