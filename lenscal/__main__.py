from lenscal.cli import main

main()
