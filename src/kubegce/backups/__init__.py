"""etcd backups in the state store (issue 22): the retention rule, the manifest beside each
snapshot, and where both live. The node side (taking, uploading and pruning snapshots) is
boot/templates/lib/backup.sh; listing and requesting them is kubegce.state.backups."""
