from weatherlake.cli import main

main()
