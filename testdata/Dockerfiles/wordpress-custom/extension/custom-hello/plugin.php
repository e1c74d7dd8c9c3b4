<?php
/* Plugin Name: Custom Hello */
function custom_hello() { return "Hello from the custom-hello extension."; }
