"""The DaemonSet controller: `plan` (which node needs a pod, rolling update, status) and
`controller` (the loop)."""
