#!/usr/bin/env bash
# Kills the container of the <stack>_<service> replica that has answered the most calls so far
# (read from each replica's own /metrics), so the killing breaks the connection the gateway is
# using; prints the container id.
set -euo pipefail
stack=$1 service=$2
best="" best_calls=-1
for c in $(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_${service}"); do
  calls=$(docker exec "$c" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9100
    printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' |
    awk '/^grpc_server_handled_total\{/ && /grpc_service="medmesh\./ { n += $NF } END { print n + 0 }')
  echo "    ${service} container $c has answered ${calls%.*} calls" >&2
  if [ "${calls%.*}" -gt "$best_calls" ]; then best=$c best_calls=${calls%.*}; fi
done
[ -n "$best" ] || { echo "no ${service} container" >&2; exit 1; }
docker kill "$best" >/dev/null
echo "    killed $best" >&2
echo "$best"
