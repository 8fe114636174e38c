"""The kernel data plane of the service proxy: nftables DNAT rules instead of a userspace
splice (`nft` renders them, pure; `plane` applies them)."""
