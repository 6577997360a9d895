# shellcheck shell=bash
# Sourced by spark-class and spark-submit (pyspark's bin/load-spark-env.sh) in the
# weatherlake image, for the Spark master, the workers, and the batch jobs' driver.
#
# Spark advertises the local host's canonical name by default: in a container that is its
# hostname, a random id other containers may not resolve. Advertise the container's IP on
# the compose network instead, which every container reaches: executors connect back to
# the driver at spark.driver.host, and the driver to executors at their address.
if [ -z "${SPARK_LOCAL_HOSTNAME:-}" ]; then
  SPARK_LOCAL_HOSTNAME=$(hostname -i 2> /dev/null | cut -d ' ' -f 1)
  [ -n "$SPARK_LOCAL_HOSTNAME" ] || unset SPARK_LOCAL_HOSTNAME
fi
