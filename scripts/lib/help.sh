# Sourced first by every script: `--help` or `-h` anywhere in the arguments prints the script's leading comment
# block (its usage) and exits 0, before the script does anything else.
for argument in "$@"; do
  if [[ "$argument" == "--help" || "$argument" == "-h" ]]; then
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
    exit 0
  fi
done
