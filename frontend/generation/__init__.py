"""What every API shares once it has translated its request: references, sizes, styles, the generation
service that runs the pipeline, encodes and stores."""
