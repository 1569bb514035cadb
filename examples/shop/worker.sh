# A background worker: takes a "job" every second and reports it.
trap 'echo "SIGTERM: finishing the current job"; exit 0' TERM
n=0
echo "worker ${CLUSTER_INSTANCE:-worker} ready"
while true; do
  n=$((n + 1))
  echo "processed job $n"
  sleep 1 &
  wait $!
done
