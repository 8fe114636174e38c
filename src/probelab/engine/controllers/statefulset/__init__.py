"""The StatefulSet controller: `plan` (pure decisions), `revisions` (ControllerRevisions and
the pods they stamp), `controller` (the loop)."""
