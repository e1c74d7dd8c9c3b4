echo "Hello, ${1:-nobody}!"
