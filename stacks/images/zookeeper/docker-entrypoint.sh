#!/bin/sh
# The official zookeeper image's entrypoint contract (3.5 and later): generate
# /conf/zoo.cfg from ZOO_* variables unless one is mounted, write /data/myid,
# then run the command. As there, the client port comes from the server line
# (server.N=...;[ADDRESS:]PORT) or ZOO_CFG_EXTRA; there is no ZOO_PORT.
set -e

if [ ! -f "$ZOO_CONF_DIR/zoo.cfg" ]; then
    CONFIG="$ZOO_CONF_DIR/zoo.cfg"
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"
        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
        if [ -z "$ZOO_SERVERS" ]; then
            ZOO_SERVERS="server.1=localhost:2888:3888;2181"
        fi
        for server in $ZOO_SERVERS; do
            echo "$server"
        done
        if [ -n "$ZOO_4LW_COMMANDS_WHITELIST" ]; then
            echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST"
        fi
        for cfg_extra_entry in $ZOO_CFG_EXTRA; do
            echo "$cfg_extra_entry"
        done
    } > "$CONFIG"
fi

# Debian's zkServer.sh reads log4j from the config dir; give it one that logs to the console.
if [ ! -f "$ZOO_CONF_DIR/log4j.properties" ] && [ -f /etc/zookeeper/conf/log4j.properties ]; then
    cp /etc/zookeeper/conf/log4j.properties "$ZOO_CONF_DIR/log4j.properties"
fi

if [ ! -f "$ZOO_DATA_DIR/myid" ]; then
    echo "${ZOO_MY_ID:-1}" > "$ZOO_DATA_DIR/myid"
fi

exec "$@"
