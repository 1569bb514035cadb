# A clock process: enqueues scheduled work every 5 seconds.
trap 'exit 0' TERM
while true; do
  echo "tick: enqueued scheduled jobs at $(date -u +%H:%M:%S)"
  sleep 5 &
  wait $!
done
