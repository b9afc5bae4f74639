#!/bin/sh
# A tool shipped with the application: the worker must keep it executable.
echo "hello from $(basename "$0") with $1"
