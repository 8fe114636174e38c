"""A pod's volumes on the local engine's node: `layout` (what each volume holds, pure),
`writer` (the kubelet's atomic writer), `mounts` (a container's mount namespace, an argv
wrapper), `manager` (a pod's folders and their resync) and `setup` (the loops and Events a pod
worker runs). docs/kubelet.md#volumes describes what a user sees."""
