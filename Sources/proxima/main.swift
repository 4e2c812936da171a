print("proxima: not yet built")
