//! Walking the paths given on the command line to find files to scan.
