#!/bin/bash -eu
# ClusterFuzzLite entry: OSS-Fuzz sets $OUT and $SANITIZER; the project's own script does the rest.
cd "$SRC/smtpsim"
bash Fuzz/build.sh
