from mardonar.cli import main

main()
