from vectorize_cli.cli import main

main()
