from kubegce.cli.main import main

main()
