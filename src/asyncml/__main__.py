from asyncml.cli import main

main()
