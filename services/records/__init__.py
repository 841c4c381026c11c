"""Records: the checklist, document and DICOM uploads, records.ready."""
