from verda_patch.cli import main

main()
