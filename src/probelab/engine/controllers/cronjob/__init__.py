"""The CronJob controller: `plan` (what a sync does) and `controller`; cron lines are
`probelab.k8s.cron`'s."""
