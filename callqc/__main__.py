from callqc.cli import main

main()
