"""The CronJob controller: `schedule` (cron lines), `plan` (what a sync does), `controller`."""
